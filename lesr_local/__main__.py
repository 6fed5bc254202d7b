from lesr_local.cli import main

raise SystemExit(main())

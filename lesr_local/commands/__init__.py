"""One module per `lesr` sub-command. Keep imports here light: heavy ones go inside the handlers."""

# expect: revise_state raised ValueError
# layer: sandbox
# Its error text is Rich/Textual markup: every place that prints a reason must show it literally
# ("[/]" alone raises MarkupError when read as markup; "[@click=...]" would be a live TUI action).
import numpy as np


def revise_state(s):
    raise ValueError("[/] [bold]not bold[/bold] [@click=app.quit]quit[/]")


def intrinsic_reward(updated_s):
    return 0.0

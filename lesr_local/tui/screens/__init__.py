"""The app's screens: main menu, new run form, live run, history, run and candidate detail, models."""

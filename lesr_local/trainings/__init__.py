"""Where trainings run and how they are recorded: one place asks for a training and gets its result."""

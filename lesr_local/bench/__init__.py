"""`lesr bench` implementations."""

"""tracker: follows infrastructure-programme indicators and publishes briefings."""

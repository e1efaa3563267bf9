"""Media events in: feeds adapt to IncomingEvent, the pipeline enriches, stores and derives."""

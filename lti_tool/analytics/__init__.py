"""Pure query functions: (session, course, filters) -> plain frozen dataclasses. SQL lives here."""

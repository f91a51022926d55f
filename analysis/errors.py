"""Errors raised by the statistics engine."""


class AnalysisInputError(ValueError):
    """Input that cannot be analysed: names the reader, column or row at fault."""

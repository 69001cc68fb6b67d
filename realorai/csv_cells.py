"""Cells written to CSV files people open in spreadsheets (the app's batch table, scan results, reports)."""

SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is run as a formula by spreadsheets


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text: a leading ' defuses =, +, -, @, tab and CR (OWASP's advice)."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_TRIGGERS):
        return "'" + value
    return value

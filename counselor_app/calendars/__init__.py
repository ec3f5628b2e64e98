"""Appointments for calendars and spreadsheets: .ics events, a private feed, and CSV lists."""

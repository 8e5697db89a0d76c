"""The phone web app, built from web/ (package data)."""

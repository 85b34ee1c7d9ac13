"""Helpers that run in .venv-dashboard (Streamlit, Playwright), called by test_dashboard.py."""

"""Folders of scenes, as cron jobs run them: jobs, their state, merged layers."""

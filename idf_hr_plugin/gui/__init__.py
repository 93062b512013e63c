"""Widgets of the plugin: dock, tabs, options page. No business logic here."""

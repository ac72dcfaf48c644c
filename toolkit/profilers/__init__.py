"""Host runners, device runners (adb, macOS), static op report; one JSON schema for results."""

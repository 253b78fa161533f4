"""MQTT push of results: `manage.py publish_mqtt` reads the commit-ordered result feed by a
cursor kept in the database and publishes each result to the plant's broker (docs/mqtt.md)."""

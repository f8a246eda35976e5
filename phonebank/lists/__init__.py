"""Target lists: upload, map, clean, match and import people into the supporter store."""

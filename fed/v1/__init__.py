"""Generated from proto/ by tools.protogen."""

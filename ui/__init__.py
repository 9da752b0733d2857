"""LiveCC Desk Qt widgets: the only package that imports Qt."""

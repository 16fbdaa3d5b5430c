"""Reading and writing the field's formats, and writing anything safely."""

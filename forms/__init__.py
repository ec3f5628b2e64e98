"""WTForms (Flask-WTF) form classes, one module per area, on the shared BaseForm."""

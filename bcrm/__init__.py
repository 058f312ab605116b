"""bcrm — binary customer relationship management for project finance."""

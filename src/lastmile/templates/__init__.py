"""Route templates: recurring stops on chosen weekdays, materialised into each day's tasks."""

"""What runs produce for people and files: metrics, console reports, prediction and embedding files."""

"""Token classification (NER): readers, tagging schemes, windows, metrics, the trained predictor."""

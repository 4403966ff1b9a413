"""The connector spec: models and loader."""

"""An example Vigil plugin: a metric, a blob renderer and a QA plot (docs/plugins.md)."""

"""HTTP routes: the OTLP receiver, the REST API and the web pages."""

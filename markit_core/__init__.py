"""MarkIt core: the product's logic, callable and testable without Streamlit."""

__version__ = "0.1.0"

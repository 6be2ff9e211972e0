"""The app's tabs: Gradio only, one module per tab, thin handlers over `diffusion/` and `visualize/`."""

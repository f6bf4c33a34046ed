# fairseq's --user-dir loader imports every module here, then `models`, whose package loads the plugin
# (plugin.py, which registers everything in one place). This package itself loads nothing, so that
# prompt_layout.py is read without fairseq (the downstream decoders use it).

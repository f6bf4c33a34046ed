"""The paper's five datasets, one spec module each; `downstream` imports every module here."""

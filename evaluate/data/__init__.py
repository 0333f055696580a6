"""Small offline sample sets in the real layouts of ALERT and MultiJail, for the safety demo."""

"""Real or AI? — code shared by dataset building, training and serving.

Preprocessing, face cropping, model I/O and prediction live here so the three cannot drift apart.
"""

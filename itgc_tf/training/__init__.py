"""Keras models with custom train steps (teachers, distiller) and learning-rate schedules."""

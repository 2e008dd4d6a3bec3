from django.db import models


class Note(models.Model):
    """The project's one model: its migration is the proof that the
    entrypoint's migrate step ran, and /api/notes/ shows DRF's pagination."""

    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.text

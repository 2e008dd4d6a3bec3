from django.contrib import admin
from django.urls import path

from core import views

urlpatterns = [
    path("", views.index, name="index"),
    # A template page with a form: CSRF cookie, CSRF-checked POST, session.
    path("notes/", views.notes, name="notes-page"),
    # The health document Docker's healthcheck and Traefik's probe ask for.
    path("api/", views.HealthView.as_view(), name="health"),
    path("api/notes/", views.NoteList.as_view(), name="notes"),
    path("admin/", admin.site.urls),
]

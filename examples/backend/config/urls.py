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
    # A task for the worker (`manage.py runworker tasks`), and its result.
    path("api/tasks/", views.TaskCreate.as_view(), name="tasks"),
    path("api/tasks/<uuid:pk>/", views.TaskDetail.as_view(), name="task"),
    path("admin/", admin.site.urls),
]

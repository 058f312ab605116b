from django.urls import path

from bcrm.book import views

app_name = "book"

urlpatterns = [
    path("projects/<int:pk>/book/", views.book_page, name="book"),
    path("projects/<int:pk>/book/settings/", views.book_settings, name="settings"),
    path("projects/<int:pk>/book/allocate/", views.book_allocate, name="allocate"),
]

from django.urls import path

from bcrm.fileanalysis import views

app_name = "analysis"

urlpatterns = [
    path("analyse/", views.analyse, name="analyse"),
]

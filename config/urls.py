from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Tend"
admin.site.site_title = "Tend"
admin.site.index_title = "Customer success"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]

from django import forms

from inventory.models import FeedImport, Warehouse
from inventory.services import feed_upload_warehouse_code

# Far above the largest real feed (a few MB); a bigger upload is a mistake, not a feed.
FEED_UPLOAD_MAX_BYTES = 200 * 1024 * 1024


class FeedUploadForm(forms.ModelForm):
    upload = forms.FileField(
        label="Feed file",
        help_text="CSV with the header line_code,part_number,qty,cost (description optional). "
        "It replaces that warehouse's whole stock.",
    )
    warehouse_code = forms.CharField(
        required=False,
        max_length=40,
        help_text="Leave empty to use the file name (WH001.csv is warehouse WH001). The "
        "warehouse must already exist.",
    )
    allow_empty = forms.BooleanField(
        required=False,
        label="This feed may empty the warehouse",
        help_text="Tick only when the warehouse really has no stock left, or lost most of it: "
        "without it, a feed with no rows, or one that would remove more than half of the "
        "warehouse's stock, is refused and the stock stays as it is. Recorded with your name.",
    )

    class Meta:
        model = FeedImport
        fields = ["warehouse_code"]

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        if upload.size > FEED_UPLOAD_MAX_BYTES:
            raise forms.ValidationError("The file is larger than 200 MB.")
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is None:
            return cleaned
        code = feed_upload_warehouse_code(
            file_name=upload.name, warehouse_code=cleaned.get("warehouse_code", "")
        )
        if not Warehouse.objects.filter(code=code.upper()).exists():
            # A typo must not create a warehouse: adding one is its own step.
            self.add_error(
                "warehouse_code",
                f"There is no warehouse {code.upper()!r}. Check the code (or the file name), "
                "or add the warehouse first under Warehouses.",
            )
        return cleaned

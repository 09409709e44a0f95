from django import forms

from inventory.models import FeedImport

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
        help_text="Leave empty to use the file name (WH001.csv is warehouse WH001).",
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

package dev.camkit.demo.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.unit.dp

/**
 * Pick a photo (the system Photo Picker) or take one (CameraX), choose artifact and backend,
 * run the artifact over the whole photo and compare before and after with a slider.
 */
@Composable
fun PhotoScreen(model: AppViewModel, modifier: Modifier = Modifier) {
    var camera by remember { mutableStateOf(false) }
    val picker = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let(model::pickedPhoto)
    }
    if (camera) {
        CameraCapture(
            onPhoto = { camera = false; model.usePhoto(it) },
            onCancel = { camera = false },
            onFailure = { camera = false; model.showError(it) },
        )
        return
    }
    Column(
        modifier.verticalScroll(rememberScrollState()).padding(16.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        RunChoices(model)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = {
                picker.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
            }) { Text("Pick photo") }
            OutlinedButton(onClick = { camera = true }) { Text("Take photo") }
        }
        val photo = model.photo
        Button(
            onClick = model::runPhoto,
            enabled = photo != null && model.backend != null && model.busy == null,
            modifier = Modifier.fillMaxWidth(),
        ) { Text(if (photo == null) "Pick or take a photo first" else "Run at full resolution (${photo.width}x${photo.height})") }
        WorkState(model)
        val result = model.result
        when {
            photo != null && result != null -> {
                BeforeAfter(photo, result)
                model.resultNote?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
            }
            photo != null -> Image(
                photo.asImageBitmap(), contentDescription = "photo", Modifier.fillMaxWidth(), contentScale = ContentScale.FillWidth,
            )
        }
    }
}

/** Artifact, backend and strict mode: shared by both screens. */
@Composable
fun RunChoices(model: AppViewModel) {
    Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
        ArtifactPicker(model.artifacts, model.selected, model::select)
        if (model.artifacts.isEmpty()) {
            Text(
                "Push artifacts from the host: camkit app push MANIFEST... (they land in ${model.storagePath})",
                style = MaterialTheme.typography.bodySmall,
            )
        }
        BackendPicker(model.selected?.manifest?.format, model.backend, model::selectBackend)
        StrictSwitch(model.strict) { model.strict = it }
    }
}

/** What is running (with progress) and the last error. */
@Composable
fun WorkState(model: AppViewModel) {
    model.busy?.let { what ->
        Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
            LinearProgressIndicator(Modifier.fillMaxWidth())
            Text(model.progress ?: what, style = MaterialTheme.typography.bodySmall)
        }
    }
    model.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
}

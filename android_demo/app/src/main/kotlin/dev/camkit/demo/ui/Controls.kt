package dev.camkit.demo.ui

import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.rememberScrollState
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import dev.camkit.core.Backend
import dev.camkit.demo.BuildConfig
import dev.camkit.demo.ModelStore

/** Which pushed artifact to run: its manifest's name, model, variant and precision. */
@Composable
fun ArtifactPicker(entries: List<ModelStore.Entry>, selected: ModelStore.Entry?, onSelect: (ModelStore.Entry) -> Unit) {
    var open by remember { mutableStateOf(false) }
    Box {
        OutlinedButton(onClick = { open = true }, modifier = Modifier.fillMaxWidth(), enabled = entries.isNotEmpty()) {
            Text(
                selected?.let(::describe) ?: if (entries.isEmpty()) "No artifacts pushed yet" else "Choose an artifact",
                maxLines = 1,
                overflow = TextOverflow.Ellipsis,
            )
        }
        DropdownMenu(expanded = open, onDismissRequest = { open = false }) {
            for (entry in entries) {
                DropdownMenuItem(
                    text = {
                        Column {
                            Text(describe(entry))
                            entry.problem?.let { Text(it, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall) }
                        }
                    },
                    enabled = entry.manifest != null,
                    onClick = { open = false; onSelect(entry) },
                )
            }
        }
    }
}

private fun describe(entry: ModelStore.Entry): String = entry.manifest?.let {
    "${it.modelId}/${it.variant} ${it.format} ${it.precision}"
} ?: entry.name

/** The backends that run the artifact's format; ort-qnn only in the qnn flavor. */
@Composable
fun BackendPicker(format: String?, selected: Backend?, onSelect: (Backend) -> Unit) {
    val backends = format?.let { Backend.forFormat(it) }.orEmpty()
    Row(
        Modifier.fillMaxWidth().horizontalScroll(rememberScrollState()),
        horizontalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        for (backend in backends) {
            FilterChip(
                selected = backend == selected,
                onClick = { onSelect(backend) },
                label = { Text(backend.id) },
                enabled = backend != Backend.ORT_QNN || BuildConfig.ORT_QNN,
            )
        }
    }
}

/** Strict: a backend that cannot take the whole graph fails instead of using the CPU. */
@Composable
fun StrictSwitch(strict: Boolean, onChange: (Boolean) -> Unit) {
    Row(verticalAlignment = Alignment.CenterVertically) {
        Switch(checked = strict, onCheckedChange = onChange)
        Spacer(Modifier.width(8.dp))
        Column {
            Text("Strict delegation")
            Text(
                if (strict) "fail when ops would fall back to the CPU" else "allow CPU fallback (reported)",
                style = MaterialTheme.typography.bodySmall,
            )
        }
    }
}

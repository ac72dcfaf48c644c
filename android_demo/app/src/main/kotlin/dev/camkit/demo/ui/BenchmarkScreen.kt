package dev.camkit.demo.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import dev.camkit.core.Parity
import dev.camkit.core.ProfileReport

/**
 * The on-device benchmark of the selected artifact and backend (:core's Benchmark, the same as
 * the headless run): loads, first inference, warm-up, timed runs with percentiles, pre/post,
 * the delegation the run got, thermal state, and on-device parity per output.
 */
@Composable
fun BenchmarkScreen(model: AppViewModel, modifier: Modifier = Modifier) {
    Column(
        modifier.verticalScroll(rememberScrollState()).padding(16.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        RunChoices(model)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            NumberField("Timed runs", model.runs.toString(), Modifier.weight(1f)) { v -> v.toIntOrNull()?.let { model.runs = it } }
            NumberField("Warm-up", model.warmup.toString(), Modifier.weight(1f)) { v -> v.toIntOrNull()?.let { model.warmup = it } }
            NumberField("PSNR budget dB", model.budgetDb?.toString().orEmpty(), Modifier.weight(1f), model.selected?.name) { v ->
                model.budgetDb = v.toDoubleOrNull()
            }
        }
        Button(
            onClick = model::runBenchmark,
            enabled = model.backend != null && model.busy == null,
            modifier = Modifier.fillMaxWidth(),
        ) { Text("Run benchmark") }
        WorkState(model)
        model.report?.let { Report(it, model.budgetDb) }
        model.reportFile?.let { Text("Saved to $it", style = MaterialTheme.typography.bodySmall) }
    }
}

/** A number field that keeps what is typed (an empty or half-typed value included) and hands
 * every edit to [onChange], which keeps the last value that parses; [resetKey] changing (another
 * artifact chosen) shows [value] afresh. */
@Composable
private fun NumberField(label: String, value: String, modifier: Modifier, resetKey: Any? = null, onChange: (String) -> Unit) {
    var text by remember(resetKey) { mutableStateOf(value) }
    OutlinedTextField(
        value = text,
        onValueChange = { text = it; onChange(it) },
        label = { Text(label) },
        singleLine = true,
        modifier = modifier,
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Decimal),
    )
}

@Composable
private fun Report(report: ProfileReport, budgetDb: Double?) {
    val app = report.app
    val lat = report.latency
    report.error?.let { e ->
        Section("Error (${e.kind})") { Text(e.message, color = MaterialTheme.colorScheme.error) }
    }
    Section("Run") {
        Line("runtime", listOfNotNull(report.runtime.name, report.runtime.version, report.runtime.delegate).joinToString(" "))
        Line("device", report.device?.let { listOfNotNull(it.model, it.soc, it.os, it.abi).joinToString(" · ") })
        Line("sample input", app.inputSize?.joinToString("x"))
        Line("thermal", "${app.thermalBefore ?: "unknown"} → ${app.thermalAfter ?: "unknown"}")
        Line("memory peak", report.memory.peakMb?.let { "%.1f MB over the start".format(it) })
    }
    Section("Load and first inference") {
        Line("cold load", ms(app.loadColdMs))
        Line("warm load", ms(app.loadWarmMs))
        Line("first inference", ms(lat.firstMs))
        Line("warm-up mean", ms(lat.warmupMeanMs))
    }
    Section("Timed runs (n = ${lat.n ?: 0})") {
        Line("median", ms(lat.medianMs))
        Line("mean ± std", lat.meanMs?.let { "%.2f ± %.2f ms".format(it, lat.stdMs ?: 0.0) })
        Line("p5 / p90", "${ms(lat.p5Ms)} / ${ms(lat.p90Ms)}")
        Line("p95 / p99", "${ms(lat.p95Ms)} / ${ms(lat.p99Ms)}")
        Line("min / max", "${ms(lat.minMs)} / ${ms(lat.maxMs)}")
        Line("pre-process", ms(app.preprocessMs))
        Line("post-process", ms(app.postprocessMs))
    }
    Section("Delegation") {
        val d = report.delegation
        Line("delegate", d?.delegate ?: "none (the runtime's CPU kernels)")
        Line("whole graph", when (d?.fullyDelegated) { true -> "yes"; false -> "no"; null -> "not reported by the runtime" })
        d?.nodesDelegated?.let { Line("nodes", "$it of ${d?.nodesTotal ?: "?"}") }
        d?.partitions?.let { Line("partitions", it.toString()) }
        val fallback = app.fallbackOps
        Line("fell back to CPU", when {
            fallback == null -> "not reported"
            fallback.isEmpty() -> "nothing"
            else -> fallback.joinToString()
        })
    }
    Section("On-device parity vs the sample's reference") {
        val parity = app.parity
        if (parity == null) Text("not measured (the sample holds no reference outputs)")
        else parity.forEach { ParityLine(it, budgetDb) }
        budgetDb?.let {
            Text("budget %.1f dB (the card's, from the manifest); the CI gate is camkit check --device-results".format(it),
                style = MaterialTheme.typography.bodySmall)
        }
    }
}

@Composable
private fun ParityLine(p: Parity, budgetDb: Double?) {
    val psnr = if (p.psnrDb.isInfinite()) "identical" else "%.2f dB".format(p.psnrDb)
    val passed = budgetDb?.let { p.psnrDb >= it }
    val colour = when (passed) { true -> Color(0xFF2E7D32); false -> MaterialTheme.colorScheme.error; null -> Color.Unspecified }
    val verdict = when (passed) { true -> "pass"; false -> "FAIL"; null -> "" }
    Text("%s: %s, max |Δ| %.4g  %s".format(p.output, psnr, p.maxAbs, verdict), color = colour, fontWeight = FontWeight.Medium)
}

@Composable
private fun Section(title: String, content: @Composable () -> Unit) {
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(title, style = MaterialTheme.typography.titleSmall)
            content()
        }
    }
}

@Composable
private fun Line(label: String, value: String?) {
    Row(Modifier.fillMaxWidth()) {
        Text(label, Modifier.weight(1f), style = MaterialTheme.typography.bodyMedium)
        Text(value ?: "—", style = MaterialTheme.typography.bodyMedium)
    }
}

private fun ms(value: Double?): String = value?.let { "%.2f ms".format(it) } ?: "—"

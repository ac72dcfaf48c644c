package dev.camkit.demo.ui

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.camkit.core.Backend
import dev.camkit.core.Benchmark
import dev.camkit.core.BenchmarkConfig
import dev.camkit.core.CamkitException
import dev.camkit.core.ProfileJson
import dev.camkit.core.ProfileReport
import dev.camkit.demo.AndroidPlatform
import dev.camkit.demo.ModelStore
import dev.camkit.demo.decodePhoto
import dev.camkit.demo.runners.AppRunnerFactory
import dev.camkit.demo.runners.CPU_THREADS
import dev.camkit.demo.toBitmap
import dev.camkit.demo.toImage
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** The screens' state and the work behind them (off the main thread; one job at a time). */
class AppViewModel(private val app: Application) : AndroidViewModel(app) {
    private val store = ModelStore(app)
    private val factory = AppRunnerFactory(app)
    private val platform = AndroidPlatform(app)

    var artifacts by mutableStateOf(emptyList<ModelStore.Entry>()); private set
    var selected by mutableStateOf<ModelStore.Entry?>(null); private set
    var backend by mutableStateOf<Backend?>(null); private set
    var strict by mutableStateOf(true)
    var photo by mutableStateOf<Bitmap?>(null); private set
    var result by mutableStateOf<Bitmap?>(null); private set
    var resultNote by mutableStateOf<String?>(null); private set
    var runs by mutableIntStateOf(20)
    var warmup by mutableIntStateOf(3)
    var budgetDb by mutableStateOf<Double?>(null)
    var report by mutableStateOf<ProfileReport?>(null); private set
    var reportFile by mutableStateOf<String?>(null); private set

    /** What is running now (shown with a progress bar), or null; [progress]: how far it got. */
    var busy by mutableStateOf<String?>(null); private set
    var progress by mutableStateOf<String?>(null); private set
    var error by mutableStateOf<String?>(null); private set

    val storagePath: String get() = store.artifactsDir.path

    /** Re-reads storage (after `camkit app push`), keeping the selection when it is still there. */
    fun refresh() = work("reading the pushed artifacts") {
        val list = store.list()
        onMain {
            artifacts = list
            val keep = list.firstOrNull { it.name == selected?.name && it.manifest != null }
            if (keep == null) list.firstOrNull { it.manifest != null }?.let(::select) else selected = keep
        }
    }

    fun select(entry: ModelStore.Entry) {
        val manifest = entry.manifest ?: return
        selected = entry
        if (backend?.format != manifest.format) backend = Backend.forFormat(manifest.format).firstOrNull()
        budgetDb = manifest.psnrBudgetDb  // the card's budget, from the manifest (editable)
        result = null
        resultNote = null
        report = null
        reportFile = null
    }

    fun selectBackend(choice: Backend) {
        backend = choice
        result = null
        report = null
    }

    fun usePhoto(bitmap: Bitmap) {
        photo = bitmap
        result = null
        resultNote = null
    }

    fun pickedPhoto(uri: Uri) = work("decoding the photo") {
        val bitmap = decodePhoto(app, uri)
        onMain { usePhoto(bitmap) }
    }

    fun showError(message: String) {
        error = message
    }

    /** The selected artifact over the whole photo on the selected backend. */
    fun runPhoto() {
        val (name, chosen, picture) = Triple(selected?.name, backend, photo)
        if (name == null || chosen == null || picture == null) return
        work("loading") {
            val manifest = store.read(name)
            val run = PhotoRun.run(picture.toImage(), manifest, factory, chosen, strict) { line -> onMainAsync { progress = line } }
            val bitmap = run.output.toBitmap()
            onMain {
                result = bitmap
                resultNote = "${chosen.id}: loaded in %.0f ms, %s over %dx%d in %.0f ms"
                    .format(run.loadMs, run.how, picture.width, picture.height, run.processMs)
            }
        }
    }

    /** :core's Benchmark on the sample input; the result is also saved where the host pulls. */
    fun runBenchmark() {
        val (name, chosen) = selected?.name to backend
        if (name == null || chosen == null) return
        val config = BenchmarkConfig(chosen, runs.coerceAtLeast(1), warmup.coerceAtLeast(0), strict, CPU_THREADS)
        work("benchmarking ${chosen.id}: ${config.warmup} warm-up, ${config.runs} timed runs") {
            val manifest = store.read(name)
            val argv = listOf(
                "camkit-android", "benchmark", "--manifest", name, "--backend", chosen.id, "--runs", config.runs.toString(),
                "--warmup", config.warmup.toString(), "--strict", config.strict.toString(),
            )
            val measured = Benchmark(factory, platform).run(manifest, config, argv)
            val file = store.writeResult("${manifest.artifactSha256.take(12)}-${chosen.id}.json", ProfileJson.write(measured))
            onMain {
                report = measured
                reportFile = file.path
            }
        }
    }

    private fun work(what: String, block: suspend () -> Unit) {
        if (busy != null) return
        busy = what
        error = null
        viewModelScope.launch(Dispatchers.Default) {
            try {
                block()
            } catch (e: CamkitException) {
                onMain { error = e.message }
            } catch (e: OutOfMemoryError) {
                onMain { error = "out of memory ($what); try a smaller photo" }
            } catch (e: Exception) {
                onMain { error = "${e.javaClass.simpleName}: ${e.message}" }
            } finally {
                onMain {
                    busy = null
                    progress = null
                }
            }
        }
    }

    private suspend fun onMain(block: () -> Unit) = withContext(Dispatchers.Main) { block() }

    private fun onMainAsync(block: () -> Unit) {
        viewModelScope.launch(Dispatchers.Main) { block() }
    }
}

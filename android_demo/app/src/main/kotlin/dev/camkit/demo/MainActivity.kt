package dev.camkit.demo

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModelProvider
import dev.camkit.demo.ui.AppViewModel
import dev.camkit.demo.ui.BenchmarkScreen
import dev.camkit.demo.ui.PhotoScreen

/** The interactive app: a Photo screen (before/after at full resolution) and a Benchmark screen. */
class MainActivity : ComponentActivity() {
    private val model: AppViewModel by lazy { ViewModelProvider(this)[AppViewModel::class.java] }

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme(colorScheme = if (isSystemInDarkTheme()) darkColorScheme() else lightColorScheme()) {
                CamkitApp(model)
            }
        }
    }

    /** Artifacts pushed while the app was in the background show up on return. */
    override fun onResume() {
        super.onResume()
        model.refresh()
    }
}

@Composable
private fun CamkitApp(model: AppViewModel) {
    var tab by rememberSaveable { mutableIntStateOf(0) }
    Scaffold { padding ->
        Column(Modifier.fillMaxSize().padding(padding)) {
            Row(Modifier.padding(horizontal = 16.dp, vertical = 8.dp), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                TABS.forEachIndexed { i, title ->
                    FilterChip(selected = tab == i, onClick = { tab = i }, label = { Text(title) })
                }
            }
            when (tab) {
                0 -> PhotoScreen(model, Modifier.weight(1f))
                else -> BenchmarkScreen(model, Modifier.weight(1f))
            }
        }
    }
}

private val TABS = listOf("Photo", "Benchmark")

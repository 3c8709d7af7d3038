//! A panic in the engine's task ends the interface at once (issue "engine
//! reshaping", item 6): the loop returns `Exit::EngineLost` instead of drawing a run
//! that nobody drives any more; the wizard then restores the terminal and says where
//! the journal is.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use validator_failover::tui::app::{App, Effects, Exit, ExportFormat, Inputs, run_loop};
use validator_failover::tui::model::Model;
use validator_failover::tui::theme::Theme;

struct Nothing;

impl Effects for Nothing {
    fn request(&mut self, _: validator_failover::engine::machine::Request) -> Result<(), String> {
        Ok(())
    }
    fn fenced_out_of_band(&mut self, _: String) -> Result<(), String> {
        Ok(())
    }
    fn save_notes(
        &mut self,
        _: Vec<(validator_failover::engine::ids::NoteField, String)>,
    ) -> Result<bool, String> {
        Ok(true)
    }
    fn export(&mut self, _: Option<&str>, _: ExportFormat) -> Result<String, String> {
        Ok(String::new())
    }
}

#[tokio::test]
async fn a_panicking_engine_task_ends_the_interface() {
    let (etx, erx) = mpsc::unbounded_channel();
    let (_wtx, wrx) = mpsc::channel(8);
    // The drive task: it holds the engine's sender, and panics.
    let drive = tokio::spawn(async move {
        let _etx = etx;
        tokio::task::yield_now().await;
        panic!("a bug in the engine");
    });
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut app = App::new(Model::new("primary", "backup"), Theme::MONO);
    let inputs = Inputs {
        engine: erx,
        world: wrx,
        signals: false,
        frames: None,
        now: || 1_800_000_000.0,
    };
    // No key ever comes: only the engine's end can end the loop.
    let keys = futures::stream::pending();
    let exit = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        run_loop(&mut terminal, &mut app, keys, inputs, &mut Nothing),
    )
    .await
    .expect("the loop ended")
    .unwrap();
    assert!(matches!(exit, Exit::EngineLost), "{exit:?}");
    assert!(drive.await.unwrap_err().is_panic());
}

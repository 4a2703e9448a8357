import { render } from "preact";
import "../styles/base.css";
import "./board.css";
import { Board } from "./Board";

render(<Board />, document.getElementById("app")!);

import { render } from "preact";
import "../styles/base.css";
import "./play.css";
import { PlayApp } from "./PlayApp";

render(<PlayApp />, document.getElementById("app")!);
